"""Rectified Adam (RAdam) as a Keras 3 optimizer.

Reference: Liu et al., "On the Variance of the Adaptive Learning Rate and
Beyond" (ICLR 2020), Algorithm 2; the CAMnet thesis Eq. 2.16-2.21 (Sec. 2.5.4)
and its Table 6.3 (RAdam at 1e-4 gives CAMnet's best 70.65%). Keras 3 has no
RAdam and TensorFlow Addons is end-of-life (REFERENCE_NOTES.md section 4).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_tf")
class RAdam(keras.optimizers.Optimizer):
    """Adam whose adaptive step is rectified by the variance term r_t.

    For step t (from 1): m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2
    (Eq. 2.17-2.18), m_hat = m_t / (1 - b1^t) (Eq. 2.19), rho_inf =
    2 / (1 - b2) - 1 (Eq. 2.21), rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
    (Eq. 2.20). When rho_t > `rectify_threshold` (the paper's 4) the update is
    lr * r_t * m_hat * sqrt(1 - b2^t) / (sqrt(v_t) + eps) with
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t));
    before that the variance is intractable and the step is SGD with
    momentum, lr * m_hat. Weight decay, as for every Keras optimizer, is
    decoupled (variable -= lr * weight_decay * variable).

    Args:
        learning_rate: float or schedule. step size.
        beta_1: float. first-moment decay.
        beta_2: float. second-moment decay.
        epsilon: float. added to sqrt(v_t).
        rectify_threshold: float. rho_t above which the adaptive step is used
            (4 in the paper's Algorithm 2; PyTorch's RAdam uses 5).
        **kwargs: the base optimizer's (weight_decay, clipnorm, ...).

    Example:
    ```python
    model.compile(optimizer=RAdam(1e-4, weight_decay=1e-4), loss="mse")
    ```

    Reference: Liu et al. 2020, Algorithm 2.
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 rectify_threshold=4.0, name="radam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.rectify_threshold = float(rectify_threshold)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = [self.add_variable_from_reference(v, "momentum") for v in var_list]
        self._velocities = [self.add_variable_from_reference(v, "velocity") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1 = ops.cast(self.beta_1, variable.dtype)
        b2 = ops.cast(self.beta_2, variable.dtype)
        b1_t, b2_t = ops.power(b1, t), ops.power(b2, t)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign(m, b1 * m + (1.0 - b1) * gradient)
        self.assign(v, b2 * v + (1.0 - b2) * ops.square(gradient))
        m_hat = m / (1.0 - b1_t)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2_t / (1.0 - b2_t)
        tractable = rho_t > self.rectify_threshold
        # Clamped so the square root is real on the branch ops.where discards.
        rho_safe = ops.maximum(rho_t, 4.0 + 1e-3)
        r_t = ops.sqrt((rho_safe - 4.0) * (rho_safe - 2.0) * rho_inf
                       / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_safe))
        adaptive = r_t * ops.sqrt(1.0 - b2_t) / (ops.sqrt(v) + self.epsilon)
        scale = ops.where(tractable, adaptive, ops.ones_like(adaptive))
        self.assign_sub(variable, lr * m_hat * scale)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "rectify_threshold": self.rectify_threshold})
        return config
