"""`podeploy lint`: semantic checks of policy files, beyond what the schema and the loader refuse.

Every finding has a stable code, a severity and a location:

- the loader's problems (unknown names with "did you mean", duplicate ids, unstratifiable rules,
  ...) are errors, with the loader's codes; durable-rules' limits (`engine-limit`) are warnings, since
  such policies run on the reference evaluator;
- `never-fires` (error): a condition no fact can pass, or two conditions that can never hold together;
- `duplicate-conditions`, `cycle`, `contradiction`, `disabled`, `missing-source`, `weak-description`,
  `generic-explanation`, `scaffold-text`, `undated-source`, `fires-by-default`, `unused-code` (warnings);
- `merged-messages` (warning), in a consultant's layers only: a warning or note that two rules, or two
  firings of one rule, conclude alike, so that the customer reads their explanations run together;
- `shadowed` (info): a rule replaced on purpose by a later layer's `overrides`.

Remember the language's matching rules when reading the checks: each positive condition of a rule
matches a different fact, and a `not` looks past the facts the positive conditions matched (so
`P` together with `not: P` means "exactly one such fact", which is not a contradiction).
"""
