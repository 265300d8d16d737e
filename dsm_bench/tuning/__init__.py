"""``dsm-bench tune``: Optuna studies that give every trained method the same trials and the
same training seconds per trial (docs/tuning.md).

    space.py     the search spaces declared on solver options, as Optuna distributions
    seeds.py     the validation seeds the trials use, apart from the evaluation seeds
    objective.py the metric a study minimises, read from a trial's results row
    storage.py   the study's journal file in the results directory, its sampler and pruner
    pruning.py   inside a trial's process: the training monitor reported to its trial
    plan.py      a suite -> one study per (solver, problem, d), each trial an ordinary run
    driver.py    ask -> run (any executor) -> tell, resumed after a kill
    tuned.py     the best trials as a suite TOML, evaluated on the evaluation seeds
    command.py   the command line's ``tune`` subcommand
    report.py    default against tuned, importances and history: ``tuning_section(DIR)``
"""
