# SPDX-License-Identifier: GPL-2.0
"""The hardirq contract (DESIGN.md, rules 1-8), once.

The rules are data plus one rule engine per side: the tables live in kb/
(tables.py loads and checks them), this package is the audit's engine and
checker/ is the C checker's, and tests/test_parity.py runs both over the
same drivers and fails on any disagreement neither side explains.

  tables.py   kb/*.tsv: rules, classes, kernel functions, guards, IRQ
              registrations, gfp flags, regmap kinds, lock forms, polling
  effects.py  what each call of a function means (per function, not per path)
  reach.py    every function a callback reaches, every edge between them
  gfp.py      a gfp argument by value (__GFP_DIRECT_RECLAIM)
  locks.py    who takes which lock; locks held across dmaengine calls
  rules.py    the rules, one function each, registered in RULES
"""
