"""Admission: one AdmissionReview, from the API server's request to allow or deny.

`review` parses the request and builds the response; `workloads` finds the images in each kind's pod
spec; `policy` says which images need which signers; `outcomes` plans and judges one image;
`decision` decides a whole review; `pinning` builds the `/mutate` patch; `audit` the audit record.
"""
