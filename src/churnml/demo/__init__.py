"""A realistic B2B SaaS demo dataset whose churn and expansion have documented causes.

Every account gets hidden drivers (product fit, onboarding quality, support pain, price
pressure, growth momentum, a champion who may leave). They set the monthly churn hazard and the
expansion and contraction chances of a month-by-month contract simulation, and they leave
noisy traces in the observable tables: usage fades before most cancellations, painful support
comes before churn, seat pressure comes before seat expansions. docs/demo-data.md tells the
whole causal story; the drivers are kept in ``latent`` (table ``demo_latent_truth``) so that
model explanations can be checked against the true causes. They are never features.

One module per table: ``accounts`` (and the hidden drivers), ``contracts`` (the subscription
simulation), ``tickets``, ``nps``, ``usage``; ``base`` holds what they share and ``names`` the
CRM's names. Pure generation: numpy and pandas only, no file or database I/O (the warehouse is
written by ``churnml.io.warehouse_writer``). The entry points are in ``churnml.demo_data``.
"""
