// The one colour of each init scheme, wherever a run is drawn: the loss figures here and the
// page (web/src/colors.js holds the page's copy of this table; change both together). A run's
// colour follows its init, not its position, so "xavier" is the same blue in a student's
// figure, the compare view and the class view.
#ifndef ABLATE_SERVER_ARTIFACTS_INIT_COLORS_H_
#define ABLATE_SERVER_ARTIFACTS_INIT_COLORS_H_

#include <cstdint>
#include <string_view>

namespace ablate::artifacts {

// 0xRRGGBB from Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/):
// uniform vermillion, xavier blue, kaiming bluish green (lab 1's three, as distinct as the
// palette allows), xavier_uniform sky blue, kaiming_uniform orange, orthogonal reddish purple;
// black for a scheme the table does not know.
uint32_t InitColor(std::string_view init);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_INIT_COLORS_H_
