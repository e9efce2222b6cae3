"""The synthesis engine: the only part of the package that imports CDK for Terraform.

``cdktf_engine.synthesize`` turns workspace documents into cdktf's output layout
(``manifest.json`` and ``stacks/<name>/cdk.tf.json``). Swapping the engine (for example for CDK
Terrain, cdktf's community fork with the same layout) means replacing that one module.
"""
