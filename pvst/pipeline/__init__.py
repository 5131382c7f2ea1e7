"""The pipeline machinery: configuration, plan, commands, dvc.yaml, the artifact store and the
sample data.
"""
