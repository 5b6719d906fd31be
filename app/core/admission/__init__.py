"""Admission: one AdmissionReview, from the API server's request to allow or deny.

`review` parses the request and builds the response; `workloads` finds the images in each kind's pod
spec; `patterns` are the image globs policies and exemptions name; `policy` says which images need
which signers; `outcomes` plans and judges one image; `decision` decides a whole review; `refusals`
gives every refusal its class (what metrics and the scan report count); `pinning` builds the
`/mutate` patch; `audit` the audit record.
"""
