// The webpack 5 recipe, built through webpack's Node API (no CLI): nothing
// in the configuration is for fetch-with-refresh; webpack emits the module
// (new URL("./fetch-with-refresh.wasm", import.meta.url) is an asset) and
// wasm_exec.js (a literal import() is a chunk) by itself.
import webpack from "webpack";

const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>fetch-with-refresh with webpack</title>
  <script type="module" src="/main.mjs"></script>
</head>
<body><p id="status">loading</p></body>
</html>
`;

// IndexHTML emits the page that loads the bundle.
class IndexHTML {
  apply(compiler) {
    compiler.hooks.thisCompilation.tap("IndexHTML", (compilation) => {
      compilation.hooks.processAssets.tap({ name: "IndexHTML", stage: webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        compilation.emitAsset("index.html", new webpack.sources.RawSource(html));
      });
    });
  }
}

const compiler = webpack({
  mode: "production",
  entry: "./src/main.js",
  output: { path: new URL("./dist", import.meta.url).pathname, publicPath: "/", module: true, clean: true },
  experiments: { outputModule: true },
  plugins: [new IndexHTML()],
  // The module is 2.7 MiB before compression: above webpack's size hint,
  // which is meant for scripts.
  performance: { assetFilter: (name) => !name.endsWith(".wasm") },
});

compiler.run((err, stats) => {
  if (err || stats.hasErrors()) {
    console.error(err ?? stats.toString("errors-only"));
    process.exit(1);
  }
  console.log(stats.toString({ preset: "minimal", assets: true }));
  compiler.close(() => {});
});
