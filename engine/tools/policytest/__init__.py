"""Policy tests: cases of facts with the outcome a consultant expects, run against a layer of policies.

A test file is named `<anything>.test.yaml` and sits beside the policy files it tests. It tests the
layer it sits in together with every layer below it: a file in the built-in `policies/` folder runs
against the built-ins; a file in a pack runs against the built-ins and that pack; a file in a
consultant's folder runs against the built-ins, any packs asked for, and that folder.

    # yaml-language-server: $schema=../schemas/policy-test.schema.json
    description: What this file checks.              # optional
    cases:
      - name: Contoso keeps stocked US manufacturing
        facts:                                       # an inline facts document, or
          customer: Contoso                          #   facts_file: path/relative/to/this/file.yaml
          requirements: [production-orders]
        deployments: {Contoso: stocked-production}   # entity -> deployment type id
        gaps: {Contoso: []}                          # entity -> capability ids (exactly these)
        excluded:                                    # entity -> type -> the rules that rule it out
          Contoso: {lite: production-needs-stocked}  #   (exactly these; [] for a type not ruled out)
        why_not:                                     # entity -> type -> the reasons against it:
          Contoso:                                   #   exactly the rules behind them and the
            lite: {rules: [production-needs-stocked, type-lacks-capability],
                   capabilities: [production-orders]}  # capabilities they say it lacks
        warnings: []                                 # exactly these: codes, or {code: ..., entity: ...}
        notes: []                                    # exactly these
        fires: [production-needs-stocked]            # each fires at least once
        does_not_fire: [lite-is-final]               # none of these fires

An expectation left out is not checked. `deployments`, `gaps`, `excluded` and `why_not` check the
entities (and types) they name. `warnings` and `notes` are exact: every one expected is produced and
every one produced is expected; an expectation matches every warning or note with its code and the
keys it gives (`entity`, `type`, `capability`, `about`; `message_contains`, text its message
contains; `rules`, exactly the rules behind it).

Coverage counts a rule of the layers under test as covered when it fires in one case and does not
fire in another: a rule that fires in every case is reported apart from one that never fires.
"""
