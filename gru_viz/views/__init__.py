"""What the page is given: Plotly figure builders (figures, cell_figure), the browser's JSON payloads (scrub_payload,
model_payload) and the offline HTML export (export_html)."""
