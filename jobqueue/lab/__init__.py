"""What notebook 03 (the queues lab) imports: the fan-out, the producer, the live metrics, the drains compared,
and failure (dead letters, replay, retention). SQL lives in ``jobqueue.lab.queries``."""
