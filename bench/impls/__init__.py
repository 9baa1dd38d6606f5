"""One module per library; each exposes `build(workload, inputs) -> Case`.

`build` raises `common.Unsupported` for a workload the library cannot express.
"""
