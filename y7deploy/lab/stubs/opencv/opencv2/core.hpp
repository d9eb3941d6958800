// y7deploy lab: a minimal stand-in for OpenCV's core.hpp (the fixture's calibrator only).
#ifndef Y7LAB_OPENCV_CORE_HPP
#define Y7LAB_OPENCV_CORE_HPP
namespace cv {
struct Size {
  int width, height;
  Size(int w = 0, int h = 0) : width(w), height(h) {}
};
struct Vec3b {
  unsigned char v[3];
  unsigned char operator[](int i) const { return v[i]; }
};
class Mat {
public:
  int rows = 0, cols = 0;
  unsigned char* data = nullptr;
  template <typename T> T& at(int y, int x) { return reinterpret_cast<T*>(data)[y * cols + x]; }
  template <typename T> const T& at(int y, int x) const { return reinterpret_cast<const T*>(data)[y * cols + x]; }
};
int getVersionMajor();
}  // namespace cv
#endif
