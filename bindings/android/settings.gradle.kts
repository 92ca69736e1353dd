// The edgelm Android library: the Kotlin binding (src/main/kotlin) and libedgelm_jni.so, whose CMake
// build (src/main/cpp) compiles edgelm itself from this checkout. Open this folder in Android Studio.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "edgelm-android"
