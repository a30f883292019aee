r"""The text form of segment conditions: ``parse(text) -> Group``, ``print_tree(group) -> str``.

For people who would rather type than click::

    subscriber.mrr > 100 AND plan.interval IN ("MONTH", "YEAR")
      AND (subscription.is_free_trial IS TRUE OR subscription.duration_days >= 90)
      AND NOT (custom.company_size < 10)

``parse(print_tree(tree)) == tree`` for every tree of the domain types, and the printed text is
canonical, so ``print_tree(parse(text))`` normalises a text. The parser checks syntax only;
properties, operators per type and values are checked by validation. The full description,
with every operator and the error messages: ``docs/text-form.md``.

Grammar (keywords in any case; whitespace and line breaks are free between tokens)::

    text      = [ or_expr ]                           the empty text is ALL()
    or_expr   = and_expr { "OR" and_expr }            a OR b OR c    -> ANY(a, b, c)
    and_expr  = not_expr { "AND" not_expr }           a AND b AND c  -> ALL(a, b, c)
    not_expr  = "NOT" not_expr | primary              NOT x -> NONE(x), NOT (a OR b) -> NONE(a, b)
    primary   = "(" or_expr ")"                       groups text, not a node: (a AND b) AND c
                                                      is ALL(a, b, c)
              | ("ALL" | "ANY" | "NONE") "(" [ or_expr { "," or_expr } ] ")"
                                                      a group of exactly these children
              | condition
    condition = key operator [ "CASE" "INSENSITIVE" | "NOCASE" ]
              | [ "NOT" ] "IN" "SEGMENT" scalar      property "segment"
              | "IN" "PERCENTAGE" scalar              property "subscriber.bucket"
    key       = word | `quoted key`                   word: [A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*
    operator  = ("=" | "==" | "!=" | "<>" | ">" | ">=" | "<" | "<=") scalar
              | ["NOT"] "BETWEEN" scalar "AND" scalar
              | ["NOT"] "IN" list | "CONTAINS" ("ANY" | "ALL" | "NONE") list
              | "IS" ["NOT"] ("SET" | "EMPTY") | "IS" ("TRUE" | "FALSE")
              | ["NOT"] ("CONTAINS" | "ON") scalar | ("STARTS" | "ENDS") "WITH" scalar
              | ("MATCHES" | "BEFORE" | "AFTER" | "PERCENTAGE") scalar
              | "ON" "OR" ("BEFORE" | "AFTER") scalar | ["NOT"] "IN" "SEGMENT" scalar
              | "IN" "PERCENTAGE" scalar
              | "IN" ("LAST" | "NEXT") relative
              | "MORE" "THAN" relative ("AGO" | "AHEAD")
              | "MORE" "THAN" ("AGO" | "AHEAD") relative
              | OPERATOR_NAME ...                     any Operator name, e.g. NOT_IN ("a"),
                                                      IN_LAST 30 DAY, IS_NOT_SET
    scalar    = number [ currency ] | string          100, -3, 99.95: Decimal, scale kept
    currency  = CODE | "¤" | `quoted code`            9.99 USD: Money; 100 ¤: Money(100, None)
    list      = "(" [ scalar { "," scalar } ] ")"     a tuple
    relative  = integer unit                          unit: DAY(S) WEEK(S) MONTH(S) YEAR(S)
    string    = '"' ... '"'                           escapes \" \\ \` \n \t \r \uXXXX \UXXXXXXXX

``CODE`` is three upper-case letters other than ``AND``.
"""

from seggraph.textform.errors import TextFormError
from seggraph.textform.parser import parse
from seggraph.textform.printer import format_condition, print_tree

__all__ = ["TextFormError", "format_condition", "parse", "print_tree"]
