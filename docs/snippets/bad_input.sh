lrlaw fit tests/bad_inputs/steps_backwards.csv --out bad.json
