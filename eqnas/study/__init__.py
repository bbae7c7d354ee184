"""`eqnas study`: a grid of datasets x FLOP budgets x arms x privacy settings x seeds, each
arm's winner retrained with several seeds, reported with t intervals and paired differences."""
