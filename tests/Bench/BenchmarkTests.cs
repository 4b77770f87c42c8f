using System.Reflection;
using BenchmarkDotNet.Attributes;
using Perf.Bench;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Bench;

/// <summary>
/// Runs every benchmark method once, through its real [GlobalSetup] (which checks each body's output against a
/// reading receiver) and [GlobalCleanup], so the suite cannot rot between benchmark runs. Timing is not asserted.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed class BenchmarkTests
{
    public static TheoryData<string> Classes => new(
        typeof(Program).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
            .Select(t => t.FullName!));

    [Theory]
    [MemberData(nameof(Classes))]
    public void EveryBenchmarkRunsOnceWithItsFirstParameters(string typeName)
    {
        Type type = typeof(Program).Assembly.GetType(typeName)!;
        object instance = Activator.CreateInstance(type)!;
        foreach (PropertyInfo p in type.GetProperties())
        {
            if (p.GetCustomAttribute<ParamsAttribute>() is { } values)
            {
                p.SetValue(instance, values.Values[0]);
            }
        }

        Invoke<GlobalSetupAttribute>(type, instance);
        try
        {
            foreach (MethodInfo m in type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
            {
                Await(m.Invoke(instance, null));
            }
        }
        finally
        {
            Invoke<GlobalCleanupAttribute>(type, instance);
        }
    }

    // An async benchmark body runs to its end before the next one or the cleanup.
    private static void Await(object? result)
    {
        switch (result)
        {
            case Task t:
                t.GetAwaiter().GetResult();
                break;
            case ValueTask<int> v:
                v.AsTask().GetAwaiter().GetResult();
                break;
            case ValueTask v:
                v.AsTask().GetAwaiter().GetResult();
                break;
        }
    }

    private static void Invoke<T>(Type type, object instance)
        where T : Attribute
    {
        foreach (MethodInfo m in type.GetMethods().Where(m => m.GetCustomAttribute<T>() is not null))
        {
            m.Invoke(instance, null);
        }
    }
}
