/**
 * ESLint rule `no-unyielded-operation`: a statement whose value is a cosocket Effect or a generator (an
 * Operation) does nothing. `red.set(k, v);`, `ctx.write(buf);`, `sleep(50);` and `helper();` for a
 * `function*` helper all make something that only runs under `yield*`; the statement drops it.
 *
 * Type-aware: it needs typescript-eslint's parser with type information (`projectService`). It reports
 * an expression statement (and the branches of `a ? b() : c()`, `a && b()`, `(a(), b())` in one) whose
 * type is, or is a union holding, the class Effect of cosocket's runtime/effect.ts, or a Generator or
 * AsyncGenerator; `void` in front changes nothing, the effect still never runs. `await effect` is
 * @typescript-eslint/await-thenable's to report. Inside a generator function it suggests `yield*`.
 */

/** Where the class Effect is declared: this repository's source, or the package's built declarations. */
const EFFECT_FILE = /[\\/]runtime[\\/]effect\.(?:d\.)?ts$/;

/** The operands of an expression whose values the statement drops. */
function droppedValues(node) {
  switch (node.type) {
    case 'ConditionalExpression':
      return [...droppedValues(node.consequent), ...droppedValues(node.alternate)];
    case 'LogicalExpression':
      return droppedValues(node.right);
    case 'SequenceExpression':
      return node.expressions.flatMap(droppedValues);
    case 'UnaryExpression':
      return node.operator === 'void' ? droppedValues(node.argument) : [];
    case 'ChainExpression':
    case 'TSNonNullExpression':
    case 'TSAsExpression':
    case 'TSSatisfiesExpression':
      return droppedValues(node.expression);
    case 'CallExpression':
    case 'NewExpression':
      return [node];
    default:
      return [];
  }
}

/** 'an effect', 'an operation', or null, for a type or any member of a union type. */
function whatItIs(type, program) {
  if (type.isUnion()) {
    for (const member of type.types) {
      const what = whatItIs(member, program);
      if (what !== null) return what;
    }
    return null;
  }
  const symbol = type.getSymbol() ?? type.aliasSymbol;
  if (symbol === undefined) return null;
  const declarations = symbol.getDeclarations() ?? [];
  const name = symbol.getName();
  if (name === 'Effect' && declarations.some((d) => EFFECT_FILE.test(d.getSourceFile().fileName))) return 'an effect';
  if (
    (name === 'Generator' || name === 'AsyncGenerator') &&
    declarations.some((d) => program.isSourceFileDefaultLibrary(d.getSourceFile()))
  ) {
    return 'an operation';
  }
  return null;
}

function insideGeneratorFunction(node) {
  for (let at = node.parent; at; at = at.parent) {
    if (at.type === 'FunctionDeclaration' || at.type === 'FunctionExpression') return at.generator === true;
    if (at.type === 'ArrowFunctionExpression') return false;
  }
  return false;
}

export default {
  meta: {
    type: 'problem',
    docs: {
      description: 'Disallow cosocket effects and operations made and never yielded (a missing `yield*`)',
    },
    hasSuggestions: true,
    schema: [],
    messages: {
      unyielded: 'This makes {{what}} and drops it, so it never runs: a `yield*` is missing.',
      addYield: 'Add `yield*`.',
    },
  },

  create(context) {
    const services = context.sourceCode.parserServices;
    if (services?.program == null || services.esTreeNodeToTSNodeMap == null) {
      throw new Error(
        'no-unyielded-operation needs type information: use typescript-eslint with parserOptions.projectService',
      );
    }
    const program = services.program;
    const checker = program.getTypeChecker();

    return {
      ExpressionStatement(statement) {
        for (const node of droppedValues(statement.expression)) {
          const type = checker.getTypeAtLocation(services.esTreeNodeToTSNodeMap.get(node));
          const what = whatItIs(type, program);
          if (what === null) continue;
          context.report({
            node,
            messageId: 'unyielded',
            data: { what },
            suggest:
              insideGeneratorFunction(statement) && node === statement.expression
                ? [{ messageId: 'addYield', fix: (fixer) => fixer.insertTextBefore(node, 'yield* ') }]
                : [],
          });
        }
      },
    };
  },
};
