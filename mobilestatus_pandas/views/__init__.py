"""Pictures, widgets and progress: what a user sees of results and runs.

``drawing`` (what every picture shares), ``plots`` (health, billing, time and the
``plot(kind=...)`` dispatch), ``compare_plot``, ``tenure_plot``, ``widgets`` (the dashboard and a
run's live widget), ``run_view`` (how a run is shown), ``progress`` (tqdm or plain lines).
matplotlib and ipywidgets are imported on first use. Reads the analysis layer and the service's
tables; never imports the faces above it.
"""
