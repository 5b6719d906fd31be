{{/*
Python run by the registration Job and the helm test pod, inside the webhook's own image (no other
image to trust or pull). Standard library only. Trusts the same CA the API server is given: the
caBundle (CA_BUNDLE_B64) or, for cert-manager, the ca.crt of the serving Secret.
*/}}
{{- define "sigwebhook.probeScript" -}}
import base64, json, os, ssl, sys, time, urllib.error, urllib.request
URL = os.environ["SIGWEBHOOK_URL"]
def context():
    ctx = ssl.create_default_context()
    if os.path.exists("/etc/sigwebhook/ca/ca.crt"):
        ctx.load_verify_locations(cafile="/etc/sigwebhook/ca/ca.crt")
    elif os.environ.get("CA_BUNDLE_B64"):
        ctx.load_verify_locations(cadata=base64.b64decode(os.environ["CA_BUNDLE_B64"]).decode())
    return ctx
def call(path, body=None):
    req = urllib.request.Request(URL + path, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5, context=context()) as resp:
        return resp.status, resp.read()
def wait_ready():
    bound = int(os.environ.get("WAIT_SECONDS", "180"))
    expected = os.environ.get("EXPECTED_REVISION", "")
    deadline, last = time.monotonic() + bound, "no attempt"
    while time.monotonic() < deadline:
        try:
            status, body = call("/readyz")
            try:
                answer = json.loads(body or b"{}")
            except ValueError:
                answer = {}
            revision = answer.get("revision", "") if status == 200 and isinstance(answer, dict) else ""
            if status == 200 and revision == expected:
                print(f"sigwebhook (revision {expected}) answers {URL}/readyz: registering the webhook configuration")
                return
            last = f"HTTP {status}" if status != 200 else f"a pod of revision {revision or 'unknown'} answered, not {expected} (rollout still running?)"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(2)
    sys.exit(f"sigwebhook did not answer {URL}/readyz within {bound}s (last error: {last}). "
             "The webhook configuration was NOT registered, so no pod is blocked. "
             "Check the webhook pods (kubectl get pods, kubectl logs) and run helm upgrade again.")
{{- end }}

{{/* `helm test`: the webhook is ready, an image nobody signed is denied (fail closed), and, with the
mutating webhook, /mutate admits that review without pinning anything (only verified images are). */}}
{{- define "sigwebhook.testScript" -}}
def review_of_unsigned_pod():
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "sigwebhook-helm-test", "namespace": "sigwebhook-helm-test"},
           "spec": {"containers": [{"name": "app", "image": "registry.invalid/sigwebhook/unsigned:helm-test"}]}}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "sigwebhook-helm-test", "operation": "CREATE",
                        "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": "sigwebhook-helm-test", "name": "sigwebhook-helm-test",
                        "userInfo": {"username": "helm-test"}, "object": pod}}
def self_test(check_mutate):
    status, _ = call("/readyz")
    assert status == 200, f"/readyz answered HTTP {status}"
    body = json.dumps(review_of_unsigned_pod()).encode()
    status, answer = call("/validate", body)
    answer = json.loads(answer)["response"]
    if answer.get("allowed") is not False:
        sys.exit(f"an unsigned image was admitted: {answer}")
    print("ready, and an unsigned image is denied:", answer.get("status", {}).get("message", ""))
    if check_mutate:
        status, answer = call("/mutate", body)
        answer = json.loads(answer)["response"]
        if answer.get("allowed") is not True or answer.get("patch"):
            sys.exit(f"/mutate must admit without a patch when nothing verified: {answer}")
        print("/mutate answers and pins nothing that did not verify")
{{- end }}
