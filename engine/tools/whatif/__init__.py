"""What-if: the smallest changes to a facts file that make a deployment type the recommendation, and the reverse.

searching.search() answers "what would make TYPE the recommendation?": it derives every single change the
vocabulary allows (drop a requirement, add one, give a choice or boolean fact another value, give a
number, version or text fact one of the values the rules tell apart), then
searches breadth-first over change-set size, evaluating every set of 1 change, then every set of 2,
and so on, and returns every set of the first size that works. They are the minimal ones: no
smaller set works, so none of them is a superset of a smaller solution. The search is bounded: it
stops before a size whose sets would take it past the budget of sets or past max_changes,
and says so (`SearchResult.message`); it never evaluates part of a size.

applying.apply() answers the reverse: the decision under given changes, and what changed against the original.

The modules, in the order they import each other: changes (one edit of a facts document, the editor
that makes edits, every single change the vocabulary allows), answer (what a search or an apply
returns, as JSON and as text), applying (the changes the options name, checked, and a set of changes
evaluated against the original decision), searching (the smallest-change search).
"""
