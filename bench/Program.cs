using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Perf.Bench;

public static class Program
{
    // dotnet run -c Release --project bench -- --filter '*'   (BenchmarkSwitcher arguments; see README "Performance")
    public static int Main(string[] args)
    {
        if (args.Length == 6 && args[0] == "naive")
        {
            return NaiveRunner.Run(args); // the baseline sender bench/run measures beside perfgen
        }

        IConfig config = DefaultConfig.Instance
            .AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10).WithLaunchCount(1).AsDefault())
            .WithOptions(ConfigOptions.StopOnFirstError);
        IEnumerable<Summary> summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        foreach (Summary s in summaries)
        {
            if (s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success))
            {
                return 1;
            }
        }

        return 0;
    }
}
