"""The consent-first AI remix feature: policy, consent, jobs, the diffusion pipeline, its API and pages.

The request path: ``api``/``views`` → ``policy`` → ``jobs.remix_job_create`` (the ``RemixJob`` row)
→ ``tasks.run_remix_job`` on the ``remix`` queue → ``worker.run_job`` (claim, re-check consent,
``pipeline``, re-check under the consent locks, attach the labelled comment).
"""
