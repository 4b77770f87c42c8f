using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// Where another Perf assembly plugs a provider into Perf.Batch, which never references it: the provider is found by
/// type name on first use, and its static constructor calls <see cref="Register"/>. An application that does not ship
/// the assembly gets null, and the caller falls back or says what is missing.
/// </summary>
internal sealed class ProviderSlot<T>(string typeName)
    where T : class
{
    private T? _value;
    private bool _looked;

    internal void Register(T value) => _value = value;

    internal T? Value
    {
        get
        {
            if (_value is null && !_looked)
            {
                _looked = true;
                Load(typeName);
            }

            return _value;
        }
    }

    [UnconditionalSuppressMessage("Trimming", "IL2057", Justification = "The type names are constants, rooted by the DynamicDependency attributes below.")]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, "Perf.Uring.UringBackendProvider", "Perf.Uring")]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, "Perf.Host.ClassifierCheck", "Perf.Host")]
    private static void Load(string name)
    {
        Type? t = Type.GetType(name, throwOnError: false);
        if (t is not null)
        {
            RuntimeHelpers.RunClassConstructor(t.TypeHandle); // its static constructor registers it
        }
    }
}
