/** Exports (merged weights, GGUF, adapter packages) and adapter imports; docs/export.md. */
export { modelCardFacts } from './model-card.ts';
export { exportDtypes, exportFormats, exportOptions, exportQuants, type ExportOptions } from './options.ts';
export { produceExport, removeModelExports, type ExportTarget, type ReadyExport } from './produce.ts';
export { importAdapter, importFields, type ImportFields } from './import-adapter.ts';
export { receiveUpload, UploadTooLargeError } from './receive-upload.ts';
export { ExportInputError, runExporter } from './run-python.ts';
export { tarHeader, tarSize, tarStream } from './tar-stream.ts';
