"""The value every runner returns: a run record, plus what the command prints and the outputs it made."""

from __future__ import annotations

__all__ = ["Record"]


class Record(dict):
    """A run record (the JSON object of schema ``kbench.record/1``), with two attributes that are not written:

    * ``summary``: the text the command prints for it (tables, the protocol line, the time split);
    * ``outputs``: what else the run produced, by name (e.g. ``results_rows`` of an evaluation, ``path`` of an
      export), for the caller to write or use.

    It is a plain ``dict`` to JSON writers and pickles with both attributes (a remote worker returns it whole).
    """

    def __init__(self, record: dict, summary: str = "", outputs: dict | None = None):
        super().__init__(record)
        self.summary = summary
        self.outputs = dict(outputs or {})

    def __reduce__(self):
        return (Record, (dict(self), self.summary, self.outputs))

    @property
    def spec(self):
        """The spec this record was measured with."""
        from kbench.specs import spec_from_options

        return spec_from_options(self.get("options") or {})


def spec_record(spec, metrics: dict, inputs: dict | None = None, options: dict | None = None, summary: str = "",
                outputs: dict | None = None) -> Record:
    """The record of a measurement of ``spec``: its options carry the spec (``options["spec"]``, from which
    ``Spec.from_options`` rebuilds it) and its ``cell_id``, beside what the runner found out."""
    from kbench.bench.records import make_record

    opts = {**(options or {}), "spec": spec.to_options(), "cell_id": spec.cell_id}
    return Record(make_record(spec.kind, metrics, inputs=inputs, options=opts), summary, outputs)
