"""A rolling average per key over a window of event time.

The same logic as src/rollingAverage.ts: each key keeps the values whose event time lies within
`window_ms` of its newest value (at > newest - window_ms); a value older than that when it arrives
(late data) is ignored. test/vectors.json holds cases both implementations must pass
(python3 -m unittest discover python).
"""

import bisect


class RollingAverages:
    def __init__(self, window_ms):
        if not window_ms > 0:
            raise ValueError(f"window_ms must be a positive number of milliseconds, got {window_ms}")
        self.window_ms = window_ms
        self._keys = {}  # key -> (times, values), both sorted by time

    def add(self, key, at, value):
        """Adds a value; returns the key's new stats, or None when the value was too late to count."""
        times, values = self._keys.setdefault(key, ([], []))
        if times and at <= times[-1] - self.window_ms:
            return None
        i = bisect.bisect_right(times, at)  # after values with the same time, like the TypeScript version
        times.insert(i, at)
        values.insert(i, value)
        cutoff = times[-1] - self.window_ms
        drop = bisect.bisect_right(times, cutoff)
        del times[:drop]
        del values[:drop]
        return self.stats(key)

    def stats(self, key):
        """The current stats of a key (a dict like the TypeScript KeyStats), or None."""
        times, values = self._keys.get(key, ([], []))
        if not values:
            return None
        return {
            "key": key,
            "count": len(values),
            "average": sum(values) / len(values),
            "min": min(values),
            "max": max(values),
            "latestAt": times[-1],
            "latest": values[-1],
        }

    def all(self):
        """The stats of every key, sorted by key."""
        return [self.stats(k) for k in sorted(self._keys) if self.stats(k) is not None]
