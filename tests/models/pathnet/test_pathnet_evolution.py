"""What `evolve` reports as a tournament's training loss (Sec. IV-C1/C2)."""

import numpy as np

from fer_tf.models.pathnet import TaskData, build_pathnet, evolve
from fer_tf.models.pathnet.presets import SMOKE

D = 8
TINY = SMOKE.replace(num_modules=4, units=3, max_active=2, population_size=4,
                     generations=40, steps_per_path=3, batch_size=4, eval_every=0)


class ScriptedTrainer:
    """Stands in for PathTrainer: per-minibatch accuracies and losses of the two
    paths drawn at random, kept so that the test knows the winner and the loser.
    Accuracies are continuous, so two paths' fitnesses never tie."""

    learning_rate = TINY.learning_rate

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.calls = []

    def bind(self, net, task, x, y):
        return self

    def train(self, paths, batch_indices):
        steps = batch_indices.shape[1]
        accuracy = self.rng.uniform(0.0, 1.0, size=(2, steps))
        loss = self.rng.uniform(0.1, 3.0, size=(2, steps))
        self.calls.append((accuracy, loss))
        return accuracy, loss


def test_reported_loss_is_the_winners_mean_loss_over_its_minibatches():
    rng = np.random.default_rng(0)
    task = TaskData(rng.normal(size=(24, D)).astype("float32"), rng.integers(0, 3, 24),
                    num_classes=3)
    net = build_pathnet(TINY, D, seed=0)
    trainer = ScriptedTrainer(seed=1)
    outcomes = []
    result = evolve(task, net, TINY, np.random.default_rng(2), trainer=trainer,
                    on_generation=lambda generation, outcome: outcomes.append(outcome))

    # Replay the population's bookkeeping from the scripted figures alone.
    fitness = np.full(TINY.population_size, np.nan)
    member_loss = np.full(TINY.population_size, np.nan)
    winner_losses, loser_losses = [], []
    for (accuracy, loss), outcome in zip(trainer.calls, outcomes):
        winner = int(np.argmax(accuracy.mean(axis=1)))
        assert outcome.winner_fitness == accuracy[winner].mean()
        winner_losses.append(loss[winner].mean())
        loser_losses.append(loss[1 - winner].mean())
        fitness[outcome.winner], member_loss[outcome.winner] = (outcome.winner_fitness,
                                                                winner_losses[-1])
        fitness[outcome.loser] = member_loss[outcome.loser] = np.nan
    assert len(trainer.calls) == TINY.generations
    np.testing.assert_allclose(result.train_curve["loss"], winner_losses)
    assert not np.allclose(result.train_curve["loss"], loser_losses)
    best = int(np.nanargmax(fitness))
    assert result.best_fitness == fitness[best]
    assert result.best_loss == member_loss[best]
