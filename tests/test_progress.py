import io

from fer_tf.progress import progress


def test_progress_in_a_pipe_is_a_few_plain_lines():
    stream = io.StringIO()
    assert list(progress(range(1000), "work", stream=stream)) == list(range(1000))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in stream.getvalue()
    assert lines[0].startswith("work: 100/1000 (10%)")
    assert lines[-1].startswith("work: 1000/1000 (100%)")
    unknown = io.StringIO()
    list(progress(iter(range(7)), "gen", stream=unknown, unit="img"))
    assert unknown.getvalue().startswith("gen: 7 img")
    silent = io.StringIO()
    list(progress(range(5), "off", enabled=False, stream=silent))
    assert silent.getvalue() == ""
