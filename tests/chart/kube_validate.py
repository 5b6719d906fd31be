"""Run inside the lint venv: validate Kubernetes objects against the OpenAPI schemas of several versions.

Usage: python kube_validate.py VERSION[,VERSION...] FILE...   (YAML streams)
Prints one JSON object: {"checked": n, "errors": [...], "unknown_kinds": [...]}. Strict mode, so an
unknown or misspelt field is an error too. Kinds outside Kubernetes (cert-manager's) have no schema
there and are reported as unknown for the caller to judge.
"""

import json
import sys

import kubernetes_validate
import yaml


def main() -> None:
    versions = sys.argv[1].split(",")
    checked, errors, unknown = 0, [], set()
    for path in sys.argv[2:]:
        with open(path) as stream:
            docs = [d for d in yaml.safe_load_all(stream) if d]
        for doc in docs:
            where = f"{path}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            for version in versions:
                checked += 1
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    unknown.add(f"{doc.get('apiVersion')}/{doc.get('kind')}")
                except kubernetes_validate.ValidationError as exc:
                    errors.append(f"{where} (Kubernetes {version}): {exc.message} at {list(exc.path)}")
    print(json.dumps({"checked": checked, "errors": errors, "unknown_kinds": sorted(unknown)}))


main()
