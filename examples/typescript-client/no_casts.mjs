// Refuses what would let the flow type-check without the generated types holding: a cast
// (`x as T`, `<T>x`), a non-null assertion (`x!`), or `any`. Reads the syntax
// tree with the TypeScript compiler itself, so comments and strings do not count.
//
//     node no_casts.mjs vendor_flow.ts
import { readFileSync } from "node:fs";

import ts from "typescript";

const refused = {
  [ts.SyntaxKind.AsExpression]: "a cast (as)",
  [ts.SyntaxKind.TypeAssertionExpression]: "a cast (<T>)",
  [ts.SyntaxKind.NonNullExpression]: "a non-null assertion (!)",
  [ts.SyntaxKind.AnyKeyword]: "any",
};

let found = 0;
for (const file of process.argv.slice(2)) {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    const what = refused[node.kind];
    if (what !== undefined) {
      const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
      console.error(`${file}:${line + 1}:${character + 1}: ${what}: ${node.getText(source)}`);
      found += 1;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
process.exit(found === 0 ? 0 : 1);
