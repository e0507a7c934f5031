"""What a run tells its user: health verdicts, progress on long work, resource estimates, figure style.

* :mod:`.health`: one place that judges whether a run's physics went wrong, with the cause and the fix;
* :mod:`.progress`: a bar on a terminal, timestamped lines elsewhere;
* :mod:`.resources`: memory and time estimates before anything is allocated;
* :mod:`._figstyle`: what makes the standard figures fit for a paper.
"""
