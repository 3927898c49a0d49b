"""The model server: a second process that runs an open-weight diffusion model on this
machine's GPU behind the `http` provider's contract (docs/providers.md), so that the API gets
photoreal pictures with no hosted service. Started with `python -m tryon.modelserver`.

Layers, from the socket inwards:
- `app` answers HTTP (Flask); request threads only validate, decode and queue;
- `jobs` keeps job state in memory (idempotency keys, the bounded queue, counters);
- `generation` owns the one thread that touches the GPU (it loads the model, then runs jobs)
  and the writer that encodes results;
- `results` is the folder of finished pictures, swept after their TTL;
- `readiness` says how loading goes (download, load, warm-up) for /readyz;
- `server` wires the parts together; `settings` reads the flags;
- `weights` and `devices` fetch the weights and place the pipeline on a device;
- `models/` holds one small module per model over its diffusers pipeline.
Its heavy dependencies (requirements-modelserver.txt) are imported only once a model loads.
"""
