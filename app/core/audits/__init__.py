"""Audits: the audit record's schema (`schema`), reading records back and summarising them (`lines`,
`summary`), and checking what runs against the policies (`targets` read from the API server's objects,
`scan`, its `report`). Above `admission`: it uses the decision, never the other way."""
