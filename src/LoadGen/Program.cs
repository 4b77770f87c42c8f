namespace Perf.LoadGen;

internal static class Program
{
    private static int Main(string[] args)
    {
        var run = new Invocation(args);
        // A failure on a worker thread (sink, sender) ends perfgen with one line too, never a stack trace.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            Console.Error.WriteLine("perfgen: " + (e.ExceptionObject is Exception ex ? PerfgenCli.OneLine(ex) : "unexpected failure"));
            Environment.Exit(run.Sending ? ExitCodes.CheckFailed : ExitCodes.BadInput);
        };
        return PerfgenCli.Run(run, args);
    }
}
