plugins {
    id("com.android.library") version "8.5.2"
    id("org.jetbrains.kotlin.android") version "1.9.24"
}

android {
    namespace = "dev.edgelm"
    compileSdk = 34
    ndkVersion = "26.3.11579264"  // the NDK docs/android.md uses; r23 or newer works

    defaultConfig {
        minSdk = 24  // as the android-arm64-v8a CMake preset
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += "arm64-v8a"  // the SIMD kernels are arm64 NEON; other ABIs are untested
        }
        externalNativeBuild {
            cmake {
                // One C++ runtime, inside libedgelm_jni.so: nothing else to package.
                arguments += "-DANDROID_STL=c++_static"
                targets += "edgelm_jni"
            }
        }
    }

    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.1")  // Session.generateFlow returns a Flow
}
