import sys

from fer_tf.cli import main

sys.exit(main())
