"""eventsourcing's JSON transcoder, with orjson doing the JSON.

The stored format is exactly the stock transcoder's (the same ``_type_``/``_data_`` tags for
UUIDs and datetimes), so either can read what the other wrote; only the work moves from the
standard library's json module, which was the largest cost of storing an event after the
database round trip, to orjson.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

_PLAIN = frozenset((str, int, float, bool, type(None)))


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._tag(obj))

    def decode(self, data: bytes) -> Any:
        return self._untag(orjson.loads(data))

    def _tag(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _PLAIN:
            return obj
        if kind is dict:
            tagged = {}
            types = self.types
            for key, value in obj.items():
                # the common leaves and tagged values (ids, times) inline: this walk runs
                # for every stored event
                inner = type(value)
                if inner in _PLAIN:
                    tagged[key] = value
                elif inner in types:
                    transcoding = types[inner]
                    data = transcoding.encode(value)
                    if type(data) not in _PLAIN:
                        data = self._tag(data)
                    tagged[key] = {"_type_": transcoding.name, "_data_": data}
                else:
                    tagged[key] = self._tag(value)
            return tagged
        if kind is list or kind is tuple:
            return [value if type(value) in _PLAIN else self._tag(value) for value in obj]
        transcoding = self.types.get(kind)
        if transcoding is None:
            raise TranscodingNotRegisteredError(
                f"Object of type {kind} is not serializable. Please define and register "
                "a custom transcoding for this type."
            )
        return {"_type_": transcoding.name, "_data_": self._tag(transcoding.encode(obj))}

    def _untag(self, obj: Any) -> Any:
        # Bottom-up, as the stock transcoder's object hook: a tagged value's data is untagged
        # before its transcoding sees it. Leaves are passed inline (this runs for every event
        # read, by the relay and every cache miss), and only a two-key dict can be a tag.
        kind = type(obj)
        if kind is dict:
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                data = obj["_data_"]
                if type(data) is dict or type(data) is list:
                    data = self._untag(data)
                transcoding = self.names.get(obj["_type_"])
                if transcoding is None:  # the stock error message
                    return self._decode_obj({"_type_": obj["_type_"], "_data_": data})
                return transcoding.decode(data)
            untagged = {}
            for key, value in obj.items():
                inner = type(value)
                untagged[key] = self._untag(value) if inner is dict or inner is list else value
            return untagged
        if kind is list:
            return [
                self._untag(value) if type(value) is dict or type(value) is list else value
                for value in obj
            ]
        return obj
