"""``svae-tts demo``: the whole method, small, offline: corpus -> teacher -> semantic and acoustic
VAEs -> latents -> TTS on each -> synthesis -> convergence report.

It lives in ``eval`` because eval is the last stage of the one-way data flow and may use every
stage before it. The package reads as what the demo is:

- :mod:`eval.demo.config`: the budgets (``BUDGETS``) and the run's settings (``DemoConfig``);
- :mod:`eval.demo.stages`: one function per stage, each calling the stage's own Python API with
  its typed config;
- :mod:`eval.demo.run`: the stages and what each needs (``plan``), and the ``svae-tts demo`` command;
- :mod:`eval.demo.schedule`: runs a plan, two stages at a time in worker processes on a CPU,
  skipping what ``stages.json`` says finished;
- :mod:`eval.demo.verdict` and :mod:`eval.demo.report`: what the numbers say, and ``report.md``.
"""

from eval.demo.config import ARMS, BUDGETS, DemoBudget, DemoConfig
from eval.demo.run import register, run_demo
from eval.demo.verdict import verdict

__all__ = ["ARMS", "BUDGETS", "DemoBudget", "DemoConfig", "register", "run_demo", "verdict"]
