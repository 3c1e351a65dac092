"""Tables of settings, and the choice of a setting on validation only."""
import math

import pytest

from dglbal.experiments.tables import choose_on_validation, setting_table


def _run(seed, val, test, best_epoch=9, stop="max_epochs"):
    return dict(seed=seed, best_val_acc=val, test_acc=test, best_epoch=best_epoch,
                epochs_to_95=best_epoch, stop_reason=stop, train_loss=[0.5])


def test_the_choice_reads_validation_only_and_compares_equal_seeds():
    candidates = {
        "a": [_run(0, 0.70, 0.10), _run(1, 0.70, 0.10)],
        # best on validation over seeds 0-1; its seed 2 (others lack it) is not compared
        "b": [_run(0, 0.72, 0.00), _run(1, 0.71, 0.00), _run(2, 0.10, 0.00)],
        # c's seed 3 is best of all, but no other setting has seed 3
        "c": [_run(0, 0.60, 0.99), _run(1, 0.80, 0.99), _run(3, 0.99, 0.99)],
    }
    best, seeds, score = choose_on_validation(candidates)
    assert (best, seeds) == ("b", [0, 1]) and score == pytest.approx(0.715)
    # c's test accuracy (0.99) never decided; its validation does once it is best
    candidates["c"][0]["best_val_acc"] = 0.80
    assert choose_on_validation(candidates)[0] == "c"


def test_a_run_diverged_before_any_score_counts_zero_and_ties_go_to_the_first():
    candidates = {"unstable": [_run(0, None, None, -1, "diverged"), _run(1, 0.9, 0.9)],
                  "steady": [_run(0, 0.5, 0.5), _run(1, 0.5, 0.5)],
                  "same": [_run(0, 0.5, 0.1), _run(1, 0.5, 0.1)]}
    assert choose_on_validation(candidates)[:2] == ("steady", [0, 1])


def test_no_common_seed_means_no_choice():
    best, seeds, score = choose_on_validation({"a": [_run(0, 0.5, 0.5)],
                                               "b": [_run(1, 0.6, 0.6)]})
    assert (best, seeds) == (None, []) and math.isnan(score)
    assert choose_on_validation({})[0] is None


def test_setting_table_says_how_runs_ended_and_can_leave_test_out():
    runs = [_run(0, 0.5, 0.4, 99), _run(1, 0.7, 0.6, 199),
            _run(2, None, None, -1, "diverged")]
    lines = setting_table(["setting"], [(["beta 4"], runs)]).splitlines()
    assert lines[0].startswith("| setting | runs | test acc (%) | best val (%) |")
    assert lines[2] == ("| beta 4 | 3 | 50.0 +- 127.1 [1 diverged unscored] | 60.0 | 1 div, "
                        "2 budget; loss 0.5 | 150 [125-175] | 149 [124-174] |")
    hidden = setting_table(["setting"], [(["beta 4"], runs)], test=False)
    assert "test acc" not in hidden and "50.0" not in hidden
