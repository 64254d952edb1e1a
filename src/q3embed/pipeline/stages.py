"""The pipeline's stage names, in run order: a module without imports, so the CLI can offer them
as ``--stop-after`` choices without loading the pipeline."""

STAGES = ("synth", "filter", "stage1", "stage2", "stage3", "ablation")
