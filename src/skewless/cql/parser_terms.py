"""Builder callbacks for names, types, terms, selectors and relations (see parser.py).

Each method is named after a rule or alias of grammar.lark and receives that rule's children
(``None`` for an absent ``[optional]``); it returns the AST value for the rule. lark calls these
during the LALR parse itself, bottom-up and left to right, so bind markers are met in order of
appearance and can be numbered by a counter.
"""

from __future__ import annotations

from lark import Token, Transformer, v_args

from skewless import errors
from skewless.cql import ast
from skewless.cql.types_collections import quote_identifier

NATIVE_TYPES = frozenset(
    "ascii bigint blob boolean counter date decimal double duration float inet int smallint "
    "text time timestamp timeuuid tinyint uuid varchar varint".split()
)
# Parameterised types and how many parameters each takes (None: one or more).
_PARAM_TYPES: dict[str, int | None] = {"list": 1, "set": 1, "map": 2, "frozen": 1, "tuple": None}
_INDEX_FUNCTIONS = frozenset(("keys", "values", "entries", "full"))


def unquote_string(text: str) -> str:
    """``'it''s'`` -> ``it's``."""
    return text[1:-1].replace("''", "'")


def _const(kind: ast.ConstantKind, text: str) -> ast.Constant:
    return ast.Constant(kind, text)


@v_args(inline=True)
class TermBuilder(Transformer[Token, object]):
    """Callbacks for the expression-level rules. ``bind_names`` collects one entry per bind
    marker, in order; parser.py clears it before each parse."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.bind_names: list[str | None] = []

    # ------------------------------------------------------------ names

    def ident(self, token: Token) -> str:
        if token.type == "QNAME":
            return token[1:-1].replace('""', '"')
        return token.lower()

    def qualified(self, first: str, second: str | None) -> tuple[str | None, str]:
        if second is None:
            return None, first
        return first, second

    def idents(self, *names: str) -> tuple[str, ...]:
        return names

    def if_not_exists(self) -> bool:
        return True

    def if_exists(self) -> bool:
        return True

    # ------------------------------------------------------------ types

    def simple_type(self, name: str) -> str:
        if name in NATIVE_TYPES:
            return "text" if name == "varchar" else name
        if name in _PARAM_TYPES:
            raise errors.SyntaxException(f"Type '{name}' needs type parameters (<...>)")
        # a user-defined type of the current keyspace; a quoted name keeps its quotes in the
        # type text ("MyType"), which types.py reads case-sensitively
        return quote_identifier(name)

    def vector_type(self, name: str, element: str, dimension: Token) -> str:
        """``vector<type, N>`` (Parser.g's vector_type); the dimension is checked with the
        type (types.py), as VectorType does."""
        if name != "vector":
            raise errors.SyntaxException(f"Type '{name}' does not take a dimension")
        return f"vector<{element}, {int(dimension)}>"

    def qualified_type(self, keyspace: str, name: str) -> str:
        return f"{keyspace}.{name}"

    def param_type(self, name: str, *params: str) -> str:
        if name not in _PARAM_TYPES:
            raise errors.SyntaxException(f"Type '{name}' does not take type parameters")
        arity = _PARAM_TYPES[name]
        if arity is not None and len(params) != arity:
            raise errors.SyntaxException(
                f"Type '{name}' takes {arity} type parameter(s), got {len(params)}"
            )
        return f"{name}<{', '.join(params)}>"

    # ------------------------------------------------------------ constants

    def string(self, token: Token) -> ast.Constant:
        return _const("string", unquote_string(token))

    def dollar_string(self, token: Token) -> ast.Constant:
        return _const("string", token[2:-2])

    def integer(self, token: Token) -> ast.Constant:
        return _const("integer", str(token))

    def float(self, token: Token) -> ast.Constant:
        return _const("float", str(token))

    def nan(self) -> ast.Constant:
        return _const("float", "NaN")

    def infinity(self) -> ast.Constant:
        return _const("float", "Infinity")

    def neg_infinity(self) -> ast.Constant:
        return _const("float", "-Infinity")

    def true(self) -> ast.Constant:
        return _const("boolean", "true")

    def false(self) -> ast.Constant:
        return _const("boolean", "false")

    def null(self) -> ast.Constant:
        return _const("null", "null")

    def uuid(self, token: Token) -> ast.Constant:
        return _const("uuid", str(token))

    def hex(self, token: Token) -> ast.Constant:
        return _const("hex", token[2:])

    def duration(self, token: Token) -> ast.Constant:
        return _const("duration", str(token))

    # ------------------------------------------------------------ other terms

    def bind_anon(self) -> ast.BindMarker:
        self.bind_names.append(None)
        return ast.BindMarker(len(self.bind_names) - 1)

    def bind_named(self, name: str) -> ast.BindMarker:
        self.bind_names.append(name)
        return ast.BindMarker(len(self.bind_names) - 1, name)

    def terms(self, *items: ast.Term) -> tuple[ast.Term, ...]:
        return items

    def tuple_lit(self, items: tuple[ast.Term, ...]) -> ast.TupleLiteral:
        return ast.TupleLiteral(items)

    def type_hint(self, type_text: str, term: ast.Term) -> ast.TypeHint:
        return ast.TypeHint(type_text, term)

    def function_call(self, name: str, args: tuple[ast.Term, ...] | None) -> ast.FunctionCall:
        return ast.FunctionCall(name.lower(), args or ())

    def list_lit(self, items: tuple[ast.Term, ...] | None) -> ast.CollectionLiteral:
        return ast.CollectionLiteral("list", items or ())

    def empty_map(self) -> ast.CollectionLiteral:
        return ast.CollectionLiteral("map", ())

    def set_lit(self, items: tuple[ast.Term, ...]) -> ast.CollectionLiteral:
        return ast.CollectionLiteral("set", items)

    def map_item(self, key: ast.Term, value: ast.Term) -> tuple[ast.Term, ast.Term]:
        return key, value

    def map_lit(self, *items: tuple[ast.Term, ast.Term]) -> ast.CollectionLiteral:
        return ast.CollectionLiteral("map", items)

    def udt_item(self, name: str, value: ast.Term) -> tuple[str, ast.Term]:
        return name, value

    def udt_lit(self, *items: tuple[str, ast.Term]) -> ast.UdtLiteral:
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise errors.InvalidRequest("Duplicate field in user-defined type literal")
        return ast.UdtLiteral(items)

    # ------------------------------------------------------------ selectors

    def selector(self, expr: ast.SelectorExpr, alias: str | None) -> ast.Selector:
        return ast.Selector(expr, alias)

    def select_all(self) -> tuple[ast.Selector, ...]:
        return ()

    def select_list(self, *selectors: ast.Selector) -> tuple[ast.Selector, ...]:
        return selectors

    def sel_column(self, name: str) -> ast.ColumnRef:
        return ast.ColumnRef(name)

    def sel_value(self, term: ast.Term) -> ast.SelectorTerm:
        return ast.SelectorTerm(term)

    def sel_list(self, items: tuple[ast.Term, ...] | None) -> ast.SelectorTerm:
        """A list literal argument (a vector for the similarity functions)."""
        return ast.SelectorTerm(ast.CollectionLiteral("list", items or ()))

    def sel_call_empty(self, name: str) -> ast.SelectorCall:
        return ast.SelectorCall(name.lower(), ())

    def sel_count_star(self, name: str) -> ast.CountStar:
        if name.lower() != "count":
            raise errors.SyntaxException(f"Only COUNT accepts '*' as an argument, not {name}")
        return ast.CountStar()

    def sel_call(self, name: str, *args: ast.SelectorExpr) -> ast.SelectorExpr:
        name = name.lower()
        if name == "count" and args == (ast.SelectorTerm(_const("integer", "1")),):
            return ast.CountStar()
        return ast.SelectorCall(name, args)

    def sel_field(self, expr: ast.SelectorExpr, field: str) -> ast.SelectorField:
        return ast.SelectorField(expr, field)

    def sel_element(self, expr: ast.SelectorExpr, key: ast.Term) -> ast.SelectorElement:
        return ast.SelectorElement(expr, key)

    def sel_slice(self, expr: ast.SelectorExpr, start: ast.Term | None, end: ast.Term | None
                  ) -> ast.SelectorSlice:
        return ast.SelectorSlice(expr, start, end)

    def sel_cast(self, name: str, expr: ast.SelectorExpr, type_text: str) -> ast.SelectorCast:
        if name.lower() != "cast":
            raise errors.SyntaxException(f"'AS' is only allowed inside CAST, not inside {name}")
        return ast.SelectorCast(expr, type_text)

    # ------------------------------------------------------------ relations

    def rel_op(self, token: Token) -> str:
        return str(token)

    def where(self, *relations: ast.Relation) -> tuple[ast.Relation, ...]:
        return relations

    def conditions(self, *relations: ast.Relation) -> tuple[ast.Relation, ...]:
        return relations  # the grammar's `condition` admits only Cassandra's condition forms

    def in_list(self, items: tuple[ast.Term, ...] | None) -> tuple[ast.Term, ...]:
        return items or ()

    def in_bind(self, marker: ast.BindMarker) -> ast.BindMarker:
        return marker

    def rel_simple(self, column: str, op: ast.RelationOp, rhs: ast.Term) -> ast.Relation:
        return ast.Relation(column, op, rhs)

    def rel_in(self, column: str, rhs: ast.Term | tuple[ast.Term, ...]) -> ast.Relation:
        return ast.Relation(column, "IN", rhs)

    def rel_contains(self, column: str, rhs: ast.Term) -> ast.Relation:
        return ast.Relation(column, "CONTAINS", rhs)

    def rel_contains_key(self, column: str, rhs: ast.Term) -> ast.Relation:
        return ast.Relation(column, "CONTAINS KEY", rhs)

    def rel_like(self, column: str, rhs: ast.Term) -> ast.Relation:
        return ast.Relation(column, "LIKE", rhs)

    def rel_is_not_null(self, column: str) -> ast.Relation:
        return ast.Relation(column, "IS NOT", _const("null", "null"))

    def rel_multi(
        self, columns: tuple[str, ...], op: ast.RelationOp, rhs: ast.Term
    ) -> ast.Relation:
        if not isinstance(rhs, ast.TupleLiteral | ast.BindMarker):
            raise errors.InvalidRequest(
                f"Multi-column relation on {columns} needs a tuple or a bind marker"
            )
        return ast.Relation(columns, op, rhs)

    def rel_multi_in(
        self, columns: tuple[str, ...], rhs: ast.BindMarker | tuple[ast.Term, ...]
    ) -> ast.Relation:
        if isinstance(rhs, tuple):
            for item in rhs:
                self.rel_multi(columns, "IN", item)
        return ast.Relation(columns, "IN", rhs)

    def rel_token(
        self, name: str, columns: tuple[str, ...], op: ast.RelationOp, rhs: ast.Term
    ) -> ast.Relation:
        if name != "token":
            raise errors.SyntaxException(f"Only token() may be applied to columns, not {name}()")
        return ast.Relation(ast.TokenOf(columns), op, rhs)

    def rel_element(
        self, column: str, key: ast.Term, op: ast.RelationOp, rhs: ast.Term
    ) -> ast.Relation:
        return ast.Relation((column, key), op, rhs)

    def rel_element_in(
        self, column: str, key: ast.Term, rhs: ast.Term | tuple[ast.Term, ...]
    ) -> ast.Relation:
        return ast.Relation((column, key), "IN", rhs)

    def rel_field(self, column: str, field: str, op: ast.RelationOp, rhs: ast.Term
                  ) -> ast.Relation:
        return ast.Relation(ast.FieldOf(column, field), op, rhs)

    def rel_field_in(self, column: str, field: str, rhs: ast.Term | tuple[ast.Term, ...]
                     ) -> ast.Relation:
        return ast.Relation(ast.FieldOf(column, field), "IN", rhs)

    # ------------------------------------------------------------ CREATE INDEX target

    def index_column(self, name: str) -> str:
        return name

    def index_function(self, function: str, column: str) -> str:
        if function not in _INDEX_FUNCTIONS:
            raise errors.SyntaxException(
                f"Unknown index target function {function}(): use keys, values, entries or full"
            )
        return f"{function}({column})"
