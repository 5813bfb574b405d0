"""Trust and safety checks: prompts (rule sets) before a job exists, images (a nudity detector) on
uploads and on every remix before anyone can see it."""
