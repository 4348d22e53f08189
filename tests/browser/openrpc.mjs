// Validates an OpenRPC document (the file named by the first argument) against the
// OpenRPC meta-schema (@open-rpc/meta-schema, JSON Schema draft 7 through
// @json-schema-tools/meta-schema) with ajv, compiles every parameter schema, and checks
// that each method's `x-recipes` name only its parameters. Exits 1 naming what is wrong.
import Ajv from "ajv";
import addFormats from "ajv-formats";
import openrpcModule from "@open-rpc/meta-schema";
import jsonSchemaModule from "@json-schema-tools/meta-schema";
import { readFileSync } from "node:fs";

const openrpc = structuredClone(openrpcModule.default ?? openrpcModule);
const jsonSchema = structuredClone(jsonSchemaModule.default ?? jsonSchemaModule);
delete openrpc.$schema;
delete jsonSchema.$schema;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(jsonSchema, "https://meta.json-schema.tools");
const validate = ajv.compile(openrpc);

const document = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];
if (!validate(document)) {
  problems.push(...validate.errors.map((e) => `meta-schema: ${e.instancePath} ${e.message}`));
}
const names = new Set();
for (const method of document.methods ?? []) {
  if (names.has(method.name)) problems.push(`${method.name}: listed twice`);
  names.add(method.name);
  const params = new Set((method.params ?? []).map((p) => p.name));
  for (const param of method.params ?? []) {
    try {
      new Ajv({ strict: true, allowUnionTypes: true }).compile(param.schema);
    } catch (error) {
      problems.push(`${method.name}.${param.name}: schema does not compile: ${error.message}`);
    }
  }
  for (const recipe of method["x-recipes"] ?? []) {
    for (const name of recipe) {
      if (!params.has(name)) problems.push(`${method.name}: recipe names ${name}, not a parameter`);
    }
  }
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`valid OpenRPC ${document.openrpc}: ${document.methods.length} methods`);
