"""Batch evaluation: many facts documents over worker processes, results in input order, crashes contained.

durable-rules never releases the GIL and can crash the process, so each worker is a process of its
own (the 'forkserver' start method where there is one, else 'spawn') that loads the knowledge base
once and evaluates one input at a time. A worker that dies loses nothing: the input it was on is
retried once in a fresh worker, then reported as failed, and the batch goes on.

    items = inputs.expand_inputs(["customers/", "more/*.yaml", "leads.jsonl"])
    summary = pool.run_batch(items, write=print_record, jobs=4)
    sys.exit(summary.exit_code)

The modules, in the order they import each other: inputs (the facts documents a batch names),
results (the records, the summary, and how they are written), worker (one evaluation in a worker
process), pool (the worker processes, and a batch run over them).
"""
