"""The demo: a realistic data set and example segments, so a first `seggraph serve --demo` shows
a working system.

- :mod:`seggraph.demo.generator`: the data, generated from a fixed seed (pure).
- :mod:`seggraph.demo.segments`: the example segments, in the text form of conditions.
- :mod:`seggraph.demo.loader`: loads both through the bundled providers' own import and store
  functions and the segment service, once (a marker document makes it idempotent).
- :mod:`seggraph.demo.cli`: ``seggraph demo`` and ``seggraph serve --demo``.

A development tool: it needs the bundled providers (billing, CRM, CDP, custom properties), which
it imports lazily, only when the demo is loaded.
"""
