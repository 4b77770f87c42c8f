namespace Perf.LoadGen;

internal static class Program
{
    private static int Main(string[] args)
    {
        // A failure on a worker thread (sink, sender) ends perfgen with one line too, never a stack trace.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            Console.Error.WriteLine("perfgen: " + (e.ExceptionObject is Exception ex ? Cli.OneLine(ex) : "unexpected failure"));
            Environment.Exit(Jobs.Sending ? Cli.CheckFailed : Cli.BadInput);
        };
        return Cli.Run(args);
    }
}
