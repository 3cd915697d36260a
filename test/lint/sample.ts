/**
 * The file the lint rule's tests lint, one sample after another: it exists so that the project service
 * finds it in tsconfig.json and types each sample's imports of src/ as the real code does.
 */
export {};
