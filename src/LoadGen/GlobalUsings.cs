// perfgen's folders each have their namespace (the CLI, a folder per command, measurement, reporting); every part of
// the tool may use the others, so they are imported once here.
global using Perf.LoadGen.Cli;
global using Perf.LoadGen.Forward;
global using Perf.LoadGen.Measurement;
global using Perf.LoadGen.Merge;
global using Perf.LoadGen.QdiscTest;
global using Perf.LoadGen.Reporting;
global using Perf.LoadGen.SelfTest;
global using Perf.LoadGen.Send;
global using Perf.LoadGen.Sink;
